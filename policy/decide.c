/* Being written: see policy/decide.h. */
