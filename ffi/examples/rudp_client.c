/*
 * A C client of a kaos-rudp server through libkaosnet's socket-owning client
 * (kaos_client_*): connects, sends COUNT reliable-ordered messages, checks that the
 * server echoes each one back in order, and disconnects.
 *
 *   cc -I ffi/include rudp_client.c target/release/libkaosnet_ffi.a -lpthread -ldl -lm
 *   ./a.out 127.0.0.1:7352 1000
 *
 * Prints "ok <count>" and exits 0 when every echo came back; prints the library's error
 * and exits 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaosnet.h"

static int fail(const char *what, KaosStatus st) {
    char message[256];
    kaos_last_error(message, sizeof message);
    fprintf(stderr, "%s: %s: %s\n", what, kaos_status_name(st), message);
    return 1;
}

/* What the echo callback checks: each message is "msg <n>" with n counting up. */
struct echoes {
    unsigned next;
    int bad;
};

static void on_message(void *user, uint8_t channel, const uint8_t *data, size_t len) {
    struct echoes *e = user;
    char expected[32];
    int n = snprintf(expected, sizeof expected, "msg %u", e->next);
    if (channel != KAOS_CHANNEL_RELIABLE_ORDERED || (size_t)n != len || memcmp(data, expected, len) != 0) {
        e->bad = 1;
        return;
    }
    e->next++;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <server ip:port> <count>\n", argv[0]);
        return 2;
    }
    unsigned count = (unsigned)strtoul(argv[2], NULL, 10);
    KaosClientHandle client = 0;
    KaosStatus st = kaos_client_connect("127.0.0.1:0", argv[1], NULL, &client);
    if (st != KAOS_OK) return fail("connect", st);
    bool connected = false;
    st = kaos_client_wait_connected(client, 5000000, &connected);
    if (st != KAOS_OK) return fail("wait_connected", st);
    if (!connected) {
        fprintf(stderr, "no handshake within 5 s\n");
        return 1;
    }

    struct echoes echoes = {0, 0};
    unsigned sent = 0;
    for (int rounds = 0; echoes.next < count && !echoes.bad && rounds < 100000; rounds++) {
        while (sent < count) {
            char msg[32];
            int n = snprintf(msg, sizeof msg, "msg %u", sent);
            st = kaos_client_send(client, KAOS_CHANNEL_RELIABLE_ORDERED, (const uint8_t *)msg, (size_t)n);
            if (st == KAOS_ERR_FULL) break; /* the window is full: run the connection */
            if (st != KAOS_OK) return fail("send", st);
            sent++;
        }
        st = kaos_client_poll(client, 10000);
        if (st != KAOS_OK) return fail("poll", st);
        st = kaos_client_receive(client, on_message, &echoes, NULL);
        if (st != KAOS_OK) return fail("receive", st);
    }
    if (echoes.bad || echoes.next != count) {
        fprintf(stderr, "echoes: %u of %u, %s\n", echoes.next, count, echoes.bad ? "one was wrong" : "missing");
        return 1;
    }

    KaosStats stats;
    if ((st = kaos_client_stats(client, &stats)) != KAOS_OK) return fail("stats", st);
    if ((st = kaos_client_disconnect(client, 7)) != KAOS_OK) return fail("disconnect", st);
    /* The close goes out (three times, against loss); the reason is set once it has. */
    KaosDisconnect why = {KAOS_DISCONNECT_NONE, 0};
    for (int i = 0; i < 500 && why.reason == KAOS_DISCONNECT_NONE; i++) {
        if ((st = kaos_client_poll(client, 10000)) != KAOS_OK) return fail("poll", st);
        if ((st = kaos_client_disconnect_reason(client, &why)) != KAOS_OK) return fail("disconnect_reason", st);
    }
    if ((st = kaos_client_close(client)) != KAOS_OK) return fail("close", st);
    /* The handle is dead now: the library says so instead of crashing. */
    if (kaos_client_send(client, 0, (const uint8_t *)"x", 1) != KAOS_ERR_INVALID_HANDLE) {
        fprintf(stderr, "a closed handle was accepted\n");
        return 1;
    }
    printf("ok %u rtt_us %llu reason %u code %u\n", echoes.next, (unsigned long long)stats.rtt_us, why.reason, why.code);
    return 0;
}
