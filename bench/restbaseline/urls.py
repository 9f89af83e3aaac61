from django.urls import path

from bench.restbaseline import views

urlpatterns = [
    path("health/live", views.live),
    path("api/v1/users/me", views.MeView.as_view()),
    path("api/v1/chats", views.ChatList.as_view()),
    path("api/v1/chats/<uuid:chat_id>/messages", views.MessageList.as_view()),
]
