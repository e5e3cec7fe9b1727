from django.urls import path

from ssd import views

app_name = "ssd"

urlpatterns = [
    path("ssd/uploads/", views.upload, name="upload"),
    path("ssd/uploads/<int:pk>/", views.upload_detail, name="upload_detail"),
    path("ssd/uploads/<int:pk>/import/", views.upload_apply, name="upload_apply"),
]
