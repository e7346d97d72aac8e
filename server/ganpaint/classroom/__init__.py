"""A class on one laptop: students, their paintings, hand-ins and the album, kept in SQLite. No web code.

``store.py`` (the database and its migrations), ``room.py`` (one running class: join, record, hand in, pause,
end), ``album.py`` (the zip that opens offline), ``settings.py`` (``GANPAINT_CLASS_*``). The web side is
``ganpaint.api.classroom``; the teacher's guide is docs/classroom.md.
"""
