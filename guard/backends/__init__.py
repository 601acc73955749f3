"""Guard backends, chosen by configuration through :func:`guard.build_guard`."""
