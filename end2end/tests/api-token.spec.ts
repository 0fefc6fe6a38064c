import { expect, test } from "@playwright/test";
import { SendPage } from "./fixtures/send-page";

// A second server, started by playwright.config.ts with API_TOKEN set.
test.use({ baseURL: `http://${process.env.TOKEN_SITE_ADDR ?? "127.0.0.1:3019"}` });

test("with API_TOKEN the page asks for the token once and keeps it for the tab", async ({ page }) => {
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  await expect(page.getByTestId("token-prompt")).toBeVisible();
  await page.getByTestId("token-input").fill("e2e-secret-token");
  await page.getByTestId("token-save").click();
  await expect(page.getByTestId("broker-badge")).toBeVisible();
  await send.send({ mode: "plain", sendMode: "sync" });
  await expect(send.result.getByTestId("state")).toHaveText("OK");
  // A reload keeps the token for this tab.
  await page.reload();
  await send.expectHydrated();
  await expect(page.getByTestId("broker-badge")).toBeVisible();
  await expect(page.getByTestId("token-prompt")).toHaveCount(0);
});

test("without the token the API refuses, and the token never shows in the page", async ({ page, request }) => {
  const res = await request.post("/api/v1/send?mode=plain&eventId=NOPE");
  expect(res.status()).toBe(401);
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  await page.getByTestId("token-input").fill("e2e-secret-token");
  await page.getByTestId("token-save").click();
  await expect(page.getByTestId("broker-badge")).toBeVisible();
  expect(await page.content()).not.toContain("e2e-secret-token");
});
