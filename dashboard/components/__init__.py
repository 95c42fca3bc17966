"""Widgets the pages share: each module holds a widget's layout and its own callbacks."""
