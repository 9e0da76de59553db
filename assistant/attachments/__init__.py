"""Files a user attaches to a conversation (issue 14).

An attachment is written into the user's own file workspace — the directory the file tools
(tools/builtin/files.py) read from, with the same path confinement — so the model can read
it with ``read_file``; the user's next message names the files it carries (a note in the
history the model is shown). Size and type are limited (``ATTACHMENTS_*`` settings), and
removing an attachment deletes its file from the workspace and is audited.
"""
