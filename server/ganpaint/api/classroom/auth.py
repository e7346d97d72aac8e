"""Who may do what in a class: the teacher key (every teacher route) and a student's token (their own painting).

The teacher key travels in the ``X-Teacher-Key`` header (the teacher page reads it from its URL fragment, which
browsers never send to a server or keep in referrers); a missing or wrong key is 403, compared in constant time
(``hmac.compare_digest``). A student's token travels in ``X-Student-Token`` (REST) or the ``ganpaint_student``
cookie (the painting websocket, whose handshake a page cannot add headers to); it names one student only.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from ganpaint.classroom.room import Classroom, Student

STUDENT_COOKIE = "ganpaint_student"


def get_room(request: Request) -> Classroom:
    return request.app.state.classroom


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison; False for a missing key or an empty expected key."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def require_teacher(request: Request, x_teacher_key: Annotated[str | None, Header()] = None) -> Classroom:
    """The class, for a request carrying the teacher key; 403 otherwise."""
    if not x_teacher_key:
        raise HTTPException(403, "teacher key: missing; open the teacher URL that ganpaint classroom printed")
    if not key_matches(x_teacher_key, request.app.state.class_settings.teacher_key):
        raise HTTPException(403, "teacher key: wrong; open the teacher URL that ganpaint classroom printed")
    return get_room(request)


def current_student(request: Request, x_student_token: Annotated[str | None, Header(max_length=64)] = None) -> Student:
    """The student whose token the request carries (403 ``NotJoined`` otherwise)."""
    return get_room(request).student_for(x_student_token)


RoomDep = Annotated[Classroom, Depends(get_room)]
TeacherDep = Annotated[Classroom, Depends(require_teacher)]
StudentDep = Annotated[Student, Depends(current_student)]
