/*
 * A C client of a kaos-rudp server over its own UDP socket, through libkaosnet's
 * sans-IO connection (kaos_conn_*): the program owns the socket, the clock and the
 * connection's memory (one malloc), and moves datagrams between them. This is the shape
 * an engine with its own network layer uses.
 *
 *   cc -I ffi/include sansio_client.c target/release/libkaosnet_ffi.a -lpthread -ldl -lm
 *   ./a.out 127.0.0.1:7352 1000
 *
 * Sends COUNT reliable-ordered messages, checks the echoes come back in order, closes
 * gracefully; prints "ok <count>" and exits 0, or prints the error and exits 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kaosnet.h"

static int fail(const char *what, KaosStatus st) {
    char message[256];
    kaos_last_error(message, sizeof message);
    fprintf(stderr, "%s: %s: %s\n", what, kaos_status_name(st), message);
    return 1;
}

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Sends every datagram the connection has due. */
static KaosStatus transmit(KaosConn *conn, int fd, uint8_t *buf, size_t cap) {
    for (;;) {
        size_t n = 0;
        KaosStatus st = kaos_conn_poll_transmit(conn, now_us(), buf, cap, &n);
        if (st != KAOS_OK || n == 0) return st;
        if (send(fd, buf, n, 0) < 0 && errno != EAGAIN && errno != ECONNREFUSED) perror("send");
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <server ip:port> <count>\n", argv[0]);
        return 2;
    }
    unsigned count = (unsigned)strtoul(argv[2], NULL, 10);
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    if (!colon || (size_t)(colon - argv[1]) >= sizeof host) return 2;
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = 0;

    /* Our own socket, connected to the server so recv only sees its datagrams. */
    struct sockaddr_in server = {0};
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1) return 2;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&server, sizeof server) < 0) {
        perror("socket");
        return 1;
    }

    /* The connection's whole memory, sized by the configuration, owned by us. */
    KaosConfig cfg;
    KaosStatus st = kaos_config_default(&cfg);
    if (st != KAOS_OK) return fail("config", st);
    size_t size = 0;
    if ((st = kaos_conn_memory_size(&cfg, &size)) != KAOS_OK) return fail("memory_size", st);
    void *mem = malloc(size);
    uint8_t *buf = malloc(cfg.max_datagram);
    if (!mem || !buf) return 1;
    uint64_t nonce = ((uint64_t)rand() << 32) ^ (uint64_t)getpid() ^ now_us();
    KaosConn *conn = NULL;
    st = kaos_conn_connect(&cfg, mem, size, now_us(), argv[1], nonce | 1, &conn);
    if (st != KAOS_OK) return fail("connect", st);

    unsigned sent = 0, echoed = 0;
    bool connected = false, closed = false;
    uint64_t deadline = now_us() + 20000000u;
    while (!closed && now_us() < deadline) {
        if ((st = transmit(conn, fd, buf, cfg.max_datagram)) != KAOS_OK) return fail("poll_transmit", st);
        /* Sleep on the socket until a datagram or the connection's next timer. */
        uint64_t at = 0;
        if ((st = kaos_conn_poll_timeout(conn, &at)) != KAOS_OK) return fail("poll_timeout", st);
        uint64_t now = now_us();
        int wait_ms = at == UINT64_MAX ? 100 : at <= now ? 0 : (int)((at - now + 999) / 1000);
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, wait_ms > 100 ? 100 : wait_ms);
        ssize_t n;
        while ((n = recv(fd, buf, cfg.max_datagram, MSG_DONTWAIT)) > 0) {
            if ((st = kaos_conn_handle_datagram(conn, now_us(), buf, (size_t)n)) != KAOS_OK) return fail("datagram", st);
            /* A long burst: ack it before handling the rest (one ack covers 65 packets). */
            bool overdue = false;
            if ((st = kaos_conn_ack_overdue(conn, &overdue)) != KAOS_OK) return fail("ack_overdue", st);
            if (overdue && (st = transmit(conn, fd, buf, cfg.max_datagram)) != KAOS_OK) return fail("poll_transmit", st);
        }
        if ((st = kaos_conn_handle_timeout(conn, now_us())) != KAOS_OK) return fail("timeout", st);

        KaosEvent e;
        while ((st = kaos_conn_poll_event(conn, &e)) == KAOS_OK && e.kind != KAOS_EVENT_NONE) {
            if (e.kind == KAOS_EVENT_CONNECTED) {
                connected = true;
            } else if (e.kind == KAOS_EVENT_MESSAGE) {
                char expected[32];
                int len = snprintf(expected, sizeof expected, "msg %u", echoed);
                if ((size_t)len != e.len || memcmp(e.data, expected, e.len) != 0) {
                    fprintf(stderr, "echo %u is wrong\n", echoed);
                    return 1;
                }
                echoed++;
            } else if (e.kind == KAOS_EVENT_DISCONNECTED) {
                closed = true;
                if (echoed != count || e.disconnect.reason != KAOS_DISCONNECT_LOCAL) {
                    fprintf(stderr, "ended early: reason %u code %u\n", e.disconnect.reason, e.disconnect.code);
                    return 1;
                }
            }
        }
        if (st != KAOS_OK) return fail("poll_event", st);
        while (connected && sent < count) {
            char msg[32];
            int len = snprintf(msg, sizeof msg, "msg %u", sent);
            st = kaos_conn_send(conn, KAOS_CHANNEL_RELIABLE_ORDERED, (const uint8_t *)msg, (size_t)len);
            if (st == KAOS_ERR_FULL) break;
            if (st != KAOS_OK) return fail("send", st);
            sent++;
        }
        if (echoed == count && connected) {
            connected = false;
            if ((st = kaos_conn_close(conn, now_us(), 7)) != KAOS_OK) return fail("close", st);
        }
    }
    if (!closed) {
        fprintf(stderr, "timed out: sent %u, echoed %u of %u\n", sent, echoed, count);
        return 1;
    }
    if ((st = kaos_conn_destroy(conn)) != KAOS_OK) return fail("destroy", st);
    /* Destroyed: the state word refuses it, the memory is ours again. */
    size_t none = 0;
    if (kaos_conn_poll_transmit(conn, now_us(), buf, cfg.max_datagram, &none) != KAOS_ERR_INVALID_HANDLE) {
        fprintf(stderr, "a destroyed connection was accepted\n");
        return 1;
    }
    free(mem);
    free(buf);
    close(fd);
    printf("ok %u\n", echoed);
    return 0;
}
