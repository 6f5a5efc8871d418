/* Being written: see policy/category.h. */
