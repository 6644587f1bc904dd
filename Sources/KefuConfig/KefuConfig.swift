// KefuConfig: to be written.
