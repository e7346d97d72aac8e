"""The pages of a class: the painting page in student mode at ``/``, the teacher's page at ``/teacher``.

The student page is ``web/index.html`` itself with two lines added in ``<head>`` (the student-mode stylesheet and
module, loaded before the page's own module) and ``data-class-mode="student"`` on ``<body>``: the server sets
the flag, the file on disk is unchanged, and without a class ``/`` serves that file exactly as before. The
teacher page holds no data: everything it shows comes from routes that need the teacher key.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)
MAIN_SCRIPT = '<script type="module" src="js/main.js">'
STUDENT_HEAD = (
    '<link rel="stylesheet" href="css/student.css" />\n    <script type="module" src="js/student_mode.js"></script>'
)
NO_STORE = {"Cache-Control": "no-store"}


def student_page(web_dir: Path) -> str:
    """``index.html`` with the student-mode module and flag."""
    html = (web_dir / "index.html").read_text(encoding="utf-8")
    html = html.replace(MAIN_SCRIPT, f"{STUDENT_HEAD}\n    {MAIN_SCRIPT}", 1)
    return html.replace("<body>", '<body data-class-mode="student">', 1)


@router.get("/", response_class=HTMLResponse)
@router.get("/index.html", response_class=HTMLResponse)
def read_student_page(request: Request) -> HTMLResponse:
    return HTMLResponse(student_page(request.app.state.settings.web_dir), headers=NO_STORE)


@router.get("/teacher", response_class=FileResponse)
def read_teacher_page(request: Request) -> FileResponse:
    return FileResponse(request.app.state.settings.web_dir / "teacher.html", headers=NO_STORE)
