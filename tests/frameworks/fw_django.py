"""A minimal Django project in one module (WSGI ``application``), unmodified Django: a
multipart upload view (``request.POST``/``request.FILES``), a raw-body view (``request.body``)
and a ``StreamingHttpResponse``. Shared by the EUnit tests of ``py_request``
(nif/test/py_request_frameworks_tests.erl) and the HTTP tests of py-buffer-serve
(serve/tests/test_frameworks.py)."""

import hashlib

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="py_buffer-tests",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        USE_TZ=True,
        DATA_UPLOAD_MAX_MEMORY_SIZE=None,
        FILE_UPLOAD_MAX_MEMORY_SIZE=1 << 16,  # larger files go to a temporary file
    )
    django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt
def upload(request):
    f = request.FILES["file"]
    digest = hashlib.sha256()
    for chunk in f.chunks(65536):
        digest.update(chunk)
    return JsonResponse({"title": request.POST.get("title"), "filename": f.name,
                         "size": f.size, "sha256": digest.hexdigest()})


@csrf_exempt
def raw(request):
    body = request.body
    return JsonResponse({"size": len(body), "sha256": hashlib.sha256(body).hexdigest()})


def stream(request):
    n = int(request.GET.get("n", 8))
    return StreamingHttpResponse((("row %d\n" % i).encode() * 500 for i in range(n)),
                                 content_type="text/plain")


urlpatterns = [path("upload", upload), path("raw", raw), path("stream", stream)]
application = get_wsgi_application()
