// KefuSystemd: to be written.
