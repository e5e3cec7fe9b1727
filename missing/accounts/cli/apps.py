from django.apps import AppConfig


class AccountsCliConfig(AppConfig):
    name = "missing.accounts.cli"
    label = "missing_accounts_cli"
    verbose_name = "Account commands"
