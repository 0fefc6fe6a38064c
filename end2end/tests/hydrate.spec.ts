import { expect, test } from "@playwright/test";
import { SendPage } from "./fixtures/send-page";

test("the page hydrates (a broken wasm-opt or bundle fails here)", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  // Interactivity that only the WASM provides: the "New id" button changes the event id.
  const before = await send.eventId.inputValue();
  await page.getByTestId("new-event-id").click();
  await expect(send.eventId).not.toHaveValue(before);
  await expect(page.getByTestId("broker-badge")).toContainText("Embedded Tansu");
  expect(errors).toEqual([]);
});
