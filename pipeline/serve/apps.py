from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "pipeline.serve"
    label = "platform"
    verbose_name = "综合管理平台 sinkzone platform"
    default_auto_field = "django.db.models.BigAutoField"
