"""Unit tier: the hub and the store in process, with fakes for links and timers."""
