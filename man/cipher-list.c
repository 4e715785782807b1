/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Copies scratchd.conf.5.in to stdout with the line @CIPHER_LIST@ replaced by
 * the values of Cipher= from the cipher table (src/core/cipher.c), so that the
 * page lists exactly the ciphers that scratchd takes. */
#include <stdio.h>

#include "scratchd/cipher.h"
#include "scratchd/util.h"

/* roff: '-' is a hyphen, "\-" the minus that a name typed on a shell has;
 * "\%" keeps the name from being hyphenated at the end of a line. */
static void print_name(const char *s) {
        fputs("\\%", stdout);
        for (; *s; s++)
                fputs(*s == '-' ? "\\-" : (char[]) { *s, 0 }, stdout);
}

/* "A (note), B (note) or C." with C's note, if any, before the full stop. */
static void print_list(void) {
        for (CipherChoice c = 0; c < _CIPHER_MAX; c++) {
                const Cipher *row = cipher_get(c);
                bool last = c + 1 == _CIPHER_MAX;
                const char *punct = last ? "." : c + 2 == _CIPHER_MAX ? "" : ",";
                bool is_default = c == CIPHER_DEFAULT;

                if (last && c > 0)
                        fputs("or\n", stdout);
                if (!is_default && row->key_size == 0) {
                        fputs(*punct ? ".BR " : ".B ", stdout);
                        print_name(row->name);
                        printf("%s%s\n", *punct ? " " : "", punct);
                        continue;
                }
                fputs(".B ", stdout);
                print_name(row->name);
                fputs("\n(", stdout);
                if (is_default)
                        fputs(row->key_size > 0 ? "default, " : "default", stdout);
                if (row->key_size > 0)
                        printf("%u\\-bit key", row->key_size * 8);
                printf(")%s\n", punct);
        }
}

int main(int argc, char *argv[]) {
        char line[1024];
        bool found = false;

        if (argc != 2) {
                fprintf(stderr, "usage: %s scratchd.conf.5.in > scratchd.conf.5\n", argv[0]);
                return 2;
        }
        _cleanup_fclose_ FILE *f = fopen(argv[1], "re");
        if (!f) {
                perror(argv[1]);
                return 1;
        }
        while (fgets(line, sizeof(line), f)) {
                if (streq(line, "@CIPHER_LIST@\n")) {
                        print_list();
                        found = true;
                } else
                        fputs(line, stdout);
        }
        if (!found) {
                fprintf(stderr, "%s: no line @CIPHER_LIST@\n", argv[1]);
                return 1;
        }
        return fflush(stdout) == 0 ? 0 : 1;
}
