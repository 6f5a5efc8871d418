/* Being written: see policy/rule.h. */
