"""The application the browser tests serve: the real ASGI app, plus /static/.

With DEBUG off (as in tests) Django serves no static files; the test server needs the
page's CSS and ES modules, so they are served here the way ``runserver`` would, without
changing what production runs.
"""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from assistant.asgi import application as _application

application = ASGIStaticFilesHandler(_application)
