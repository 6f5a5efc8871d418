/* Being written: see policy/store.h. */
