/* What first-touch page faults cost small writes, and what the remedies cost
 * (docs/benchmarks.md, "Small writes (issue 12 item 2)", third round; async_core/src/prefault.rs).
 *
 *   cc -O2 benches/prefault/fault_cost.c -o /tmp/fault_cost && flock /tmp/bench.lock /tmp/fault_cost
 *
 * 1. ns per memcpy of W bytes (256, 1024) filling 64 MiB, the median of 5 fills, into memory
 *    that is: fresh (a fault per 4 KiB page), fresh but populated 64 KiB ahead with
 *    MADV_POPULATE_WRITE, already written (warm), fresh with MADV_HUGEPAGE.
 * 2. One call each: MADV_POPULATE_WRITE of 64 KiB (fresh, and already present), mincore of one
 *    page, one 4 KiB fault, one 2 MiB huge-page fault (mean and max).
 * Linux 5.14+ (MADV_POPULATE_WRITE). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define TOTAL (64UL << 20)
#define CHUNK (64UL << 10)
#define HUGE (2UL << 20)

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static char *fresh(size_t len) {
    char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    return p;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum mode { FRESH, POPULATED, WARM, HUGEPAGE };
static const char *names[] = {"fresh", "populated 64 KiB ahead", "warm", "MADV_HUGEPAGE"};

static double fill(size_t w, enum mode mode) {
    static char src[4096];
    double runs[5];
    for (int r = 0; r < 5; r++) {
        char *p = fresh(TOTAL);
        if (mode == HUGEPAGE) madvise(p, TOTAL, MADV_HUGEPAGE);
        if (mode == WARM) memset(p, 0, TOTAL);
        size_t populated = 0;
        double t0 = now_ns();
        for (size_t off = 0; off + w <= TOTAL; off += w) {
            if (mode == POPULATED && off + w > populated) {
                size_t n = populated + CHUNK > TOTAL ? TOTAL - populated : CHUNK;
                if (madvise(p + populated, n, MADV_POPULATE_WRITE)) { perror("madvise"); exit(1); }
                populated += n;
            }
            memcpy(p + off, src, w);
        }
        runs[r] = (now_ns() - t0) / (TOTAL / w);
        munmap(p, TOTAL);
    }
    qsort(runs, 5, sizeof runs[0], cmp);
    return runs[2];
}

int main(void) {
    size_t sizes[] = {256, 1024};
    for (int s = 0; s < 2; s++)
        for (int m = FRESH; m <= HUGEPAGE; m++)
            printf("%4zu B writes, %-24s %7.1f ns/write\n", sizes[s], names[m], fill(sizes[s], m));

    unsigned char vec;
    double t0, d, sum = 0, max = 0;
    char *p = fresh(TOTAL);
    for (size_t o = 0; o < TOTAL; o += CHUNK) {
        t0 = now_ns();
        madvise(p + o, CHUNK, MADV_POPULATE_WRITE);
        d = now_ns() - t0; sum += d; if (d > max) max = d;
    }
    printf("MADV_POPULATE_WRITE 64 KiB, fresh:   mean %.1f us, max %.1f us\n", sum / (TOTAL / CHUNK) / 1e3, max / 1e3);
    t0 = now_ns();
    for (size_t o = 0; o < TOTAL; o += CHUNK) madvise(p + o, CHUNK, MADV_POPULATE_WRITE);
    printf("MADV_POPULATE_WRITE 64 KiB, present: mean %.1f us\n", (now_ns() - t0) / (TOTAL / CHUNK) / 1e3);
    t0 = now_ns();
    for (size_t o = 0; o < TOTAL; o += CHUNK) mincore(p + o, 4096, &vec);
    printf("mincore of one page:                 mean %.2f us\n", (now_ns() - t0) / (TOTAL / CHUNK) / 1e3);
    munmap(p, TOTAL);

    p = fresh(TOTAL); sum = 0; max = 0;
    for (size_t o = 0; o < TOTAL; o += 4096) {
        t0 = now_ns(); p[o] = 1; d = now_ns() - t0; sum += d; if (d > max) max = d;
    }
    printf("4 KiB fault:                         mean %.2f us, max %.1f us\n", sum / (TOTAL / 4096) / 1e3, max / 1e3);
    munmap(p, TOTAL);

    char *raw = fresh(TOTAL + HUGE);
    p = (char *)(((unsigned long)raw + HUGE - 1) & ~(HUGE - 1));
    madvise(p, TOTAL, MADV_HUGEPAGE); sum = 0; max = 0;
    for (size_t o = 0; o < TOTAL; o += HUGE) {
        t0 = now_ns(); p[o] = 1; d = now_ns() - t0; sum += d; if (d > max) max = d;
    }
    printf("2 MiB huge-page fault:               mean %.1f us, max %.1f us\n", sum / (TOTAL / HUGE) / 1e3, max / 1e3);
    munmap(raw, TOTAL + HUGE);
    return 0;
}
