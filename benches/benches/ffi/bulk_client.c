/*
 * The bulk workload of benches/benches/ffi.rs, in C through libkaosnet_ffi: COUNT
 * reliable-ordered 64-byte messages (sequence number in the first 8 bytes) as fast as
 * the window allows, then a wait for the server's "done". The Rust client in ffi.rs runs
 * the same loop over RudpTransport.
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

static void on_message(void *user, uint8_t channel, const uint8_t *data, size_t len) {
    (void)channel;
    if (len == 4 && memcmp(data, "done", 4) == 0) *(int *)user = 1;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    uint64_t count = strtoull(argv[2], NULL, 10);
    KaosClientOptions options;
    kaos_client_options_default(&options);
    for (int i = 0; i < options.protocol.channel_count; i++) options.protocol.channels[i].window = 1024;
    KaosClientHandle client = 0;
    KaosStatus st = kaos_client_connect("127.0.0.1:0", argv[1], &options, &client);
    if (st != KAOS_OK) return fail("connect", st);
    bool connected = false;
    if ((st = kaos_client_wait_connected(client, 5000000, &connected)) != KAOS_OK || !connected) return fail("wait", st);
    uint8_t msg[64];
    memset(msg, 0x5A, sizeof msg);
    uint64_t sent = 0;
    int done = 0;
    while (!done) {
        while (sent < count) {
            memcpy(msg, &sent, 8);
            st = kaos_client_queue(client, KAOS_CHANNEL_RELIABLE_ORDERED, msg, sizeof msg);
            if (st == KAOS_ERR_FULL) break;
            if (st != KAOS_OK) return fail("queue", st);
            sent++;
        }
        if ((st = kaos_client_flush(client)) != KAOS_OK) return fail("flush", st);
        if ((st = kaos_client_poll(client, 1000)) != KAOS_OK) return fail("poll", st);
        if ((st = kaos_client_receive(client, on_message, &done, NULL)) != KAOS_OK) return fail("receive", st);
    }
    kaos_client_close(client);
    return 0;
}
