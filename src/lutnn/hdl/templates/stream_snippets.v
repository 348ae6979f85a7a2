//@ window_sr
  reg [{{sr_msb}}:0] sr;  // sr[{{c}}*d +: {{c}}]: the pixel pushed d+1 steps ago
  wire [{{win_msb}}:0] win = {sr, px};  // win[{{c}}*d +: {{c}}]: d steps ago (d = 0: px)
  always @(posedge clk) if (step) sr <= {{shift}};
//@ window_px
  wire [{{win_msb}}:0] win = px;
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
