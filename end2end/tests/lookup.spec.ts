import { expect, test } from "@playwright/test";
import { SendPage } from "./fixtures/send-page";

test("a lookup by request id shows the send's status in place and keeps it in the address", async ({ page }) => {
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  await send.send({ mode: "plain", sendMode: "async" });
  const live = send.result.getByTestId("live-status");
  await expect(live.getByTestId("state")).toHaveText("OK");
  const requestId = (await live.getByTestId("request-id").textContent()) ?? "";
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  const offset = (await live.getByTestId("offset").textContent()) ?? "";

  // A marker on the window survives only if the lookup does not reload the page.
  await page.evaluate(() => ((window as unknown as { lookupMarker: number }).lookupMarker = 1));
  await send.lookUp(requestId);
  await expect(send.lookupResult.getByTestId("state")).toHaveText("OK");
  await expect(send.lookupResult.getByTestId("offset")).toHaveText(offset);
  await expect(page).toHaveURL(new RegExp(`\\?requestId=${requestId}$`));
  expect(await page.evaluate(() => (window as unknown as { lookupMarker?: number }).lookupMarker)).toBe(1);

  // The address alone brings the same answer back (rendered by the server, then hydrated).
  await page.reload();
  await expect(send.lookupResult.getByTestId("offset")).toHaveText(offset);
});
