/**
 * The status bar item: the active model and what its request is doing, from the server's
 * `llamafile/status` notifications (data, never progress text to parse). Click: select a model.
 */

import * as vscode from "vscode";
import { Commands } from "./constants";
import type { Status } from "./contract";
import { Requests, statusText, statusTooltip } from "./progress";

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly requests = new Requests();
  private model: string | undefined;
  private problem: string | undefined;
  /** Inline completion requests being computed (their ids). */
  private readonly completing = new Set<string>();

  constructor() {
    this.item = vscode.window.createStatusBarItem("llamafile.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "Llamafile";
    this.render();
    this.item.show();
  }

  setModel(title: string | undefined): void {
    this.model = title;
    this.render();
  }

  /** A problem that keeps the extension from working (no Python, server down), or undefined. */
  setProblem(problem: string | undefined): void {
    this.problem = problem;
    this.render();
  }

  /** A `llamafile/status` notification. */
  update(status: Status): void {
    this.requests.update(status);
    this.render();
  }

  /** The client stopped waiting for this request (answered, failed, or the server stopped). */
  end(request: string): void {
    this.requests.end(request);
    this.render();
  }

  /** An inline suggestion is being computed (begin), or that request is over (end). */
  beginCompletion(request: string): void {
    this.completing.add(request);
    this.render();
  }

  endCompletion(request: string): void {
    this.completing.delete(request);
    this.render();
  }

  /** The server stopped: none of its requests runs any more. */
  clear(): void {
    this.requests.clear();
    this.completing.clear();
    this.render();
  }

  /** How a request ended, as the server's last status for it said. */
  outcome(request: string): string | undefined {
    return this.requests.outcome(request);
  }

  private render(): void {
    if (this.problem !== undefined) {
      this.item.text = "$(error) Llamafile";
      this.item.tooltip = `Llamafile: ${this.problem}\nClick to show the log.`;
      this.item.command = Commands.showLog;
      return;
    }
    const current = this.requests.current();
    const completing = this.completing.size > 0;
    this.item.text = statusText(this.model, current, completing);
    this.item.tooltip = `${statusTooltip(this.model, current, completing)}\nClick to select the model.`;
    this.item.command = Commands.chooseModel;
  }

  dispose(): void {
    this.item.dispose();
  }
}
