"""CRM warehouse pipeline package."""
