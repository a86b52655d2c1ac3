"""Built-in emulators of each gateway's documented wire format, so everything runs offline."""
