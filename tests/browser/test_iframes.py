"""In a real browser, the local Jira site's pages show the add-on's iframes with verified tokens."""

import re

from playwright.sync_api import expect

APP_KEY = "com.example.support-chat"


def open_as(context, site_url, account_id, path):
    page = context.new_page()
    page.goto(f"{site_url}/login?as={account_id}&next={path}")
    return page


def addon_frame(page, addon_url, path):
    """Wait for the iframe whose src starts with the add-on's `path` and return its frame."""
    locator = page.locator(f'iframe[src^="{addon_url}{path}"]').first
    expect(locator).to_be_attached()
    return locator.content_frame


def test_portal_footer_loads(browser, installed_addon, addon_server, jira_site):
    context = browser.new_context()
    page = open_as(context, jira_site.url, "cust-alice", "/servicedesk/customer/portal/1")

    frame = addon_frame(page, addon_server.url, "/portal/footer")

    expect(frame.locator("main")).to_be_visible()
    expect(frame.locator("body")).not_to_contain_text("Cette page ne peut pas s'afficher")
    context.close()


def test_agent_dashboard_loads(browser, installed_addon, addon_server, jira_site):
    context = browser.new_context()
    page = open_as(context, jira_site.url, "agent-camille",
                   f"/jira/servicedesk/projects/SUP/apps/{APP_KEY}/chat-dashboard")

    frame = addon_frame(page, addon_server.url, "/agent/dashboard")

    expect(frame.locator("body")).to_contain_text(re.compile("agent-camille"))
    context.close()


def test_admin_page_loads(browser, installed_addon, addon_server, jira_site):
    context = browser.new_context()
    page = open_as(context, jira_site.url, "admin-lea", f"/plugins/servlet/ac/{APP_KEY}/chat-admin")

    frame = addon_frame(page, addon_server.url, "/admin/settings")

    expect(frame.locator("main")).to_be_visible()
    expect(frame.locator("body")).not_to_contain_text("Cette page ne peut pas s'afficher")
    context.close()
