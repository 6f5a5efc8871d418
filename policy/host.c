/* Being written: see policy/host.h. */
