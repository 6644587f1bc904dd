// KefuProtocol: to be written.
