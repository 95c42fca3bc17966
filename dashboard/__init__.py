"""The Dash app: pages, components, i18n and assets."""
