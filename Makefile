# The seed's make targets, each the command the README gives. The console targets talk to
# a running server on 127.0.0.1:7351 (KAOS_ADMIN_PASSWORD, or ./data/console-admin-password).

CONSOLE ?= http://127.0.0.1:7351
PASSWORD = $${KAOS_ADMIN_PASSWORD:-$$(cat data/console-admin-password 2>/dev/null)}

.PHONY: build test run kaos-io seed reset migrate check-config docker-up docker-down docker-reset \
	console-login console-status console-players

build:
	cargo build --release -p kaos-server

test:
	cargo test

run:
	cargo run --release -p kaos-server

kaos-io:
	cargo run --release -p kaos-io --bin kaos-io-server

seed:
	cargo run --release -p kaos-server -- seed

# Drops the SQLite database under ./data and seeds a fresh one.
reset:
	rm -f data/kaos.db data/kaos.db-wal data/kaos.db-shm
	cargo run --release -p kaos-server -- seed

migrate:
	cargo run --release -p kaos-server -- migrate

check-config:
	cargo run --release -p kaos-server -- check-config

docker-up:
	docker compose up -d --build

docker-down:
	docker compose down

# Drops PostgreSQL's volume, starts again and reseeds.
docker-reset:
	docker compose down -v
	docker compose up -d --build

# Signs in as admin and keeps the console token in .console-token (export
# KAOS_ADMIN_PASSWORD for a server whose password is not in ./data, as under Docker).
console-login:
	@answer=$$(curl -sf -X POST $(CONSOLE)/v2/console/authenticate \
		-d "{\"username\": \"admin\", \"password\": \"$(PASSWORD)\"}") \
		&& printf '%s' "$$answer" | sed 's/.*"token":"\([^"]*\)".*/\1/' > .console-token \
		&& echo "signed in (token in .console-token)" \
		|| { echo "sign-in failed: is the server up, and the password right?" >&2; exit 1; }

console-status:
	@curl -sf -H "Authorization: Bearer $$(cat .console-token)" $(CONSOLE)/v2/console/status; echo

console-players:
	@curl -sf -H "Authorization: Bearer $$(cat .console-token)" "$(CONSOLE)/v2/console/account?limit=100"; echo
