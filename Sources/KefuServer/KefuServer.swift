// KefuServer: to be written.
