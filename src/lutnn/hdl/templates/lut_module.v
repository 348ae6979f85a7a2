// One k-input lookup table: y = INIT[a], address bit j = input j.
module {{top}}_lut #(
  parameter K = 1,
  parameter [(1 << K) - 1:0] INIT = 0
) (
  input  wire [K-1:0] a,
  output wire         y
);
  assign y = INIT[a];
endmodule
