// {{title}}
module {{module}} (
  input  wire clk,
  input  wire [{{in_msb}}:0] x,
  output wire [{{out_msb}}:0] y
);
{{body}}
endmodule
