"""What stands between a browser and the app: login throttling and the security headers.

``config`` builds the settings (read by assistant/settings.py, so it imports no models);
``logins`` plugs into django-axes to refuse, log and count failed sign-ins. See
docs/security.md.
"""
