/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: any bytes as scratchd.conf. Either a config, or a
 * one-line error naming the file and line. */
#include "scratchd/config.h"
#include "scratchd/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;

        Config *c = NULL;
        char *error = NULL;
        if (config_load_string("fuzz.conf", text, &c, &error) == 0) {
                if (c->n_scratch != 1 || !c->scratch[0].name || !c->scratch[0].mount_point ||
                    strv_length(c->scratch[0].devices) == 0)
                        __builtin_trap();
                config_free(c);
        } else if (error && (strchr(error, '\n') || !startswith(error, "fuzz.conf:")))
                __builtin_trap();
        free(error);
        free(text);
        return 0;
}
