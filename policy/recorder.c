/* Being written: see policy/recorder.h. */
