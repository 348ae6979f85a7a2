// One k-input lookup table: y = INIT[a], address bit j = input j (k <= 8).
module {{top}}_lut #(
  parameter K = 1,
  parameter [255:0] INIT = 256'd0
) (
  input  wire [K-1:0] a,
  output wire         y
);
  assign y = INIT[a];
endmodule
