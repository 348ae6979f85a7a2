//@ window_sr
  reg [{{sr_msb}}:0] sr;  // sr[{{c}}*d +: {{c}}]: the pixel pushed d+1 steps ago
  wire [{{win_msb}}:0] win = {sr, px};  // win[{{c}}*d +: {{c}}]: d steps ago (d = 0: px)
  always @(posedge clk) if (step) sr <= {{shift}};
//@ window_px
  wire [{{win_msb}}:0] win = px;
//@ window_registered
  // the window after the step that completed it: the line buffer alone, one pixel longer
  reg [{{win_msb}}:0] sr;  // sr[{{c}}*d +: {{c}}]: the pixel pushed d steps before the last
  wire [{{win_msb}}:0] win = sr;
  always @(posedge clk) if (step) sr <= {{shift}};
//@ result_on_step
        if (emits) begin
          out_valid <= 1'b1;
          out_data <= y;
        end
//@ result_pending_decl
  reg pending;  // the last step completed a window: y, from registers only, is its result
//@ result_pending_reset
      pending <= 1'b0;
//@ result_pending_late
      pending <= step & emits;
      if (pending) begin
        out_valid <= 1'b1;
        out_data <= y;
      end
//@ popcount
  wire [{{msb}}:0] {{name}} = {{terms}};
//@ stream_wire
  wire {{range}}{{name}};
//@ stage_instance
  {{module}} {{inst}} (.clk(clk), .rst(rst), .in_valid({{in_valid}}), .in_ready({{in_ready}}),
    .in_data({{in_data}}), .out_valid({{out_valid}}), .out_ready({{out_ready}}),
    .out_data({{out_data}}));
//@ tail_instance
  {{module}} u_tail (.clk(clk), .in_valid(launch), .in_data(flat), .out_valid(),
    .{{port}}(result));
