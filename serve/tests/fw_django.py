"""A minimal Django project in one module (WSGI ``application``): a multipart upload view
(``request.FILES``) and a raw-body view (``request.body``)."""

import hashlib

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="py-buffer-serve-tests",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATA_UPLOAD_MAX_MEMORY_SIZE=None,
    FILE_UPLOAD_MAX_MEMORY_SIZE=1 << 20,  # larger files go to a temporary file
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt
def upload(request):
    f = request.FILES["file"]
    digest = hashlib.sha256()
    for chunk in f.chunks(65536):
        digest.update(chunk)
    return JsonResponse({"name": f.name, "size": f.size, "sha256": digest.hexdigest(),
                         "field": request.POST.get("field")})


@csrf_exempt
def raw(request):
    body = request.body
    return JsonResponse({"size": len(body), "sha256": hashlib.sha256(body).hexdigest()})


urlpatterns = [path("upload", upload), path("raw", raw)]
application = get_wsgi_application()
