"""The class's view of /ws/paint: each update a student's page sends becomes their current painting.

``api/ws.py`` calls ``observer.on_render(session, msg)`` for every render message once its strokes are
validated; raising ``ValueError`` refuses that update with the message (the page shows it). In a class the
painting websocket is for students: the connection's ``ganpaint_student`` cookie names one (the page sets it
from the token it got at join; before that, only the unpainted picture renders), and the class refuses the
update while paused or ended. Recording is an
assignment (the page sends up to 33 updates a second per painter); saving happens later (``ClassWall.run``).
``on_frame`` keeps the frame the student got for their newest update: the wall shows it rather than render the
same strokes again.
"""

from __future__ import annotations

import weakref

from ganpaint.api.classroom.auth import STUDENT_COOKIE
from ganpaint.api.classroom.wall import stroke_points
from ganpaint.api.schemas import RenderMessage
from ganpaint.classroom.room import ClassError, Classroom, Student

UPLOADS_REFUSED = "class: paint on one of the generated pictures (a class wall shows generated pictures only)"


class ClassPaintObserver:
    def __init__(self, room: Classroom):
        self.room = room
        self._students: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # session -> Student

    def student(self, session) -> Student:
        st = self._students.get(session)
        if st is None:
            st = self.room.student_for(session.ws.cookies.get(STUDENT_COOKIE))
            self._students[session] = st
        return st

    def on_render(self, session, msg: RenderMessage) -> None:
        """Record the update as the student's painting; ValueError (shown to the student) to refuse it."""
        o = session.open
        if not msg.strokes and session.ws.cookies.get(STUDENT_COOKIE) is None:
            return  # the picture alone, behind the join screen: nothing to record
        try:
            st = self.student(session)
            if o.image is None:  # an upload
                raise ValueError(UPLOADS_REFUSED)
            points = stroke_points(msg.strokes)
            self.room.record_painting(st, o.model.id, o.image, o.layer, msg.strokes, points, msg.seq)
        except ClassError as exc:
            raise ValueError(str(exc)) from exc

    def on_frame(self, session, seq: int, frame) -> None:
        """The frame just sent to a student: the wall's thumbnail when it shows their current painting."""
        st = self._students.get(session)
        if st is not None:
            self.room.note_frame(st, seq, frame.data)
