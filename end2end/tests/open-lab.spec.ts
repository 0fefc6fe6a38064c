import { expect, test } from "@playwright/test";
import { LabPage } from "./fixtures/lab-page";
import { SendPage } from "./fixtures/send-page";

test("the Lab link opens the Lab page, whose code loads only there", async ({ page }) => {
  const chunks: string[] = [];
  page.on("request", (r) => {
    if (/\/pkg\/split_.*\.wasm$/.test(r.url())) chunks.push(r.url());
  });
  const send = new SendPage(page);
  await send.open();
  await send.expectHydrated();
  expect(chunks).toEqual([]);

  await page.getByRole("link", { name: "Lab" }).click();
  await expect(page).toHaveURL(/\/lab$/);
  const lab = new LabPage(page);
  await lab.expectHydrated();
  await expect(page.getByRole("link", { name: "Lab" })).toHaveAttribute("aria-current", "page");
  expect(chunks.length).toBe(1);
});
