from django.urls import path

from accounts import apis

urlpatterns = [
    path("auth/register", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("users/me", apis.MeApi.as_view(), name="users-me"),
    path("users", apis.UserListApi.as_view(), name="users-list"),
]
