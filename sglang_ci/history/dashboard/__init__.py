"""The static dashboard: HTML pages with inline SVG charts, no script, no network."""
