"""Which language a person sees (issue 14): their saved choice, else their browser's.

Pages get it from ``middleware.UserLocaleMiddleware``; the chat socket, which no middleware
sees, from ``languages.for_socket``. The catalogs are in ``locale/`` (docs/ui.md).
"""
