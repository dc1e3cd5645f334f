// The header is the whole of CPrefetch: static inline functions Swift inlines.
