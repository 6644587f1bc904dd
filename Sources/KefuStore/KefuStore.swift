// KefuStore: to be written.
