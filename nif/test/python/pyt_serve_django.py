"""An unmodified Django app with minimal settings: request.POST/FILES and a
StreamingHttpResponse."""
import hashlib

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
        FILE_UPLOAD_MAX_MEMORY_SIZE=1 << 16,  # larger files go to a temporary file
        DATA_UPLOAD_MAX_MEMORY_SIZE=None,
    )

import django  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt
def upload(request):
    f = request.FILES["file"]
    data = b"".join(f.chunks())
    return JsonResponse({"title": request.POST["title"], "filename": f.name,
                         "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})


def stream(request):
    n = int(request.GET.get("n", 8))
    return StreamingHttpResponse((("row %d\n" % i).encode() * 500 for i in range(n)),
                                 content_type="text/plain")


urlpatterns = [path("upload", upload), path("stream", stream)]

django.setup()
app = get_wsgi_application()
